# The reference numbers for tests/test_metafor.py, computed by R metafor.
#
# Usage: Rscript tests/r/metafor_reference.R <input folder> <output csv>
# The input folder holds the project's own data as the test wrote them (effects.csv: dataset,
# yi, vi, study; proportions.csv: dataset, xi, ni); dat.bcg and dat.konstantopoulos2011 come
# with metafor / metadat (the latter is written beside the output for the Python side). One row
# per number: dataset, feature, name, index, value.

suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
input <- args[1]
output <- args[2]
rows <- list()
# Tight convergence everywhere (metafor's defaults stop at about 1e-5, its CI root-finding at
# about 1e-4), so that the comparison measures the methods, not the stopping rules.
tight <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)
tight_ci <- list(tol = 1e-12)
put <- function(dataset, feature, name, value) {
  value <- as.numeric(value)
  rows[[length(rows) + 1]] <<- data.frame(dataset = dataset, feature = feature, name = name,
                                          index = seq_along(value) - 1, value = value)
}

univariate <- function(dataset, yi, vi, full = TRUE) {
  for (method in c("REML", "ML", "DL", "PM")) {
    fit <- rma(yi, vi, method = method, control = tight)
    ci <- confint(fit, control = tight_ci)$random
    put(dataset, paste0("rma_", method), "estimate", fit$b)
    put(dataset, paste0("rma_", method), "se", fit$se)
    put(dataset, paste0("rma_", method), "tau2", fit$tau2)
    put(dataset, paste0("rma_", method), "tau2_ci", ci["tau^2", c("ci.lb", "ci.ub")])
    put(dataset, paste0("rma_", method), "i2", fit$I2 / 100)
    put(dataset, paste0("rma_", method), "h2", fit$H2)
    put(dataset, paste0("rma_", method), "q", fit$QE)
  }
  for (test in c("knha", "adhoc")) {
    fit <- rma(yi, vi, method = "REML", test = test, control = tight)
    put(dataset, paste0("test_", test), "ci", c(fit$ci.lb, fit$ci.ub))
    put(dataset, paste0("test_", test), "se", fit$se)
  }
  fit <- rma(yi, vi, method = "REML", control = tight)
  if (fit$k >= 5) {  # the library gives a prediction interval from 5 studies on
    pred <- predict(fit)
    put(dataset, "predict_z", "pi", c(pred$pi.lb, pred$pi.ub))
  }
  if (!full) return(invisible())
  loo <- leave1out(fit)
  put(dataset, "leave1out", "estimate", loo$estimate)
  put(dataset, "leave1out", "se", loo$se)
  put(dataset, "leave1out", "tau2", loo$tau2)
  inf <- influence(fit)$inf
  for (name in c("rstudent", "dffits", "cook.d", "cov.r", "tau2.del", "QE.del", "hat")) {
    put(dataset, "influence", name, inf[[name]])
  }
  cu <- cumul(fit)
  put(dataset, "cumul", "estimate", cu$estimate)
  put(dataset, "cumul", "se", cu$se)
  put(dataset, "cumul", "tau2", cu$tau2)
  reg <- regtest(fit)
  put(dataset, "regtest", "statistic", reg$zval)
  put(dataset, "regtest", "p", reg$pval)
  put(dataset, "regtest", "limit", c(reg$est, reg$ci.lb, reg$ci.ub))
  tf <- trimfill(fit)
  put(dataset, "trimfill", "k0", tf$k0)
  put(dataset, "trimfill", "estimate", tf$b)
  put(dataset, "trimfill", "se", tf$se)
}

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
univariate("dat.bcg", bcg$yi, bcg$vi)
for (test in c("z", "knha")) {
  reg <- rma(yi, vi, mods = ~ ablat, data = bcg, test = test, control = tight)
  feature <- paste0("metareg_", test)
  put("dat.bcg", feature, "estimate", reg$b)
  put("dat.bcg", feature, "se", reg$se)
  put("dat.bcg", feature, "ci", c(reg$ci.lb, reg$ci.ub))
  put("dat.bcg", feature, "p", reg$pval)
  put("dat.bcg", feature, "tau2", reg$tau2)
  put("dat.bcg", feature, "tau2_ci", confint(reg, control = tight_ci)$random["tau^2", c("ci.lb", "ci.ub")])
  put("dat.bcg", feature, "r2", reg$R2 / 100)
  put("dat.bcg", feature, "qm", c(reg$QM, reg$QMp))
  put("dat.bcg", feature, "qe", reg$QE)
  put("dat.bcg", feature, "i2", reg$I2 / 100)
  pred <- predict(reg, newmods = c(10, 30, 50))
  put("dat.bcg", feature, "predict", c(pred$pred, pred$se, pred$ci.lb, pred$ci.ub,
                                      pred$pi.lb, pred$pi.ub))
}

konst <- dat.konstantopoulos2011
write.csv(konst[, c("district", "school", "yi", "vi")],
          file.path(dirname(output), "konstantopoulos2011.csv"), row.names = FALSE)
ml <- rma.mv(yi, vi, random = ~ 1 | district/school, data = konst)
ci <- confint(ml, control = tight_ci)
put("dat.konstantopoulos2011", "rma_mv", "estimate", ml$b)
put("dat.konstantopoulos2011", "rma_mv", "se", ml$se)
put("dat.konstantopoulos2011", "rma_mv", "sigma2", ml$sigma2)
put("dat.konstantopoulos2011", "rma_mv", "sigma2_ci",
    c(ci[[1]]$random["sigma^2.1", c("ci.lb", "ci.ub")],
      ci[[2]]$random["sigma^2.2", c("ci.lb", "ci.ub")]))

effects <- read.csv(file.path(input, "effects.csv"))
for (dataset in unique(effects$dataset)) {
  d <- effects[effects$dataset == dataset, ]
  if (all(is.na(d$study) | d$study == "")) {
    univariate(dataset, d$yi, d$vi, full = nrow(d) >= 5)
  } else {
    d$estimate <- seq_len(nrow(d))
    ml <- rma.mv(yi, vi, random = ~ 1 | study/estimate, data = d)
    ci <- confint(ml, control = tight_ci)
    put(dataset, "rma_mv", "estimate", ml$b)
    put(dataset, "rma_mv", "se", ml$se)
    put(dataset, "rma_mv", "sigma2", ml$sigma2)
    put(dataset, "rma_mv", "sigma2_ci",
        c(ci[[1]]$random["sigma^2.1", c("ci.lb", "ci.ub")],
          ci[[2]]$random["sigma^2.2", c("ci.lb", "ci.ub")]))
  }
}

proportions <- read.csv(file.path(input, "proportions.csv"))
if (requireNamespace("lme4", quietly = TRUE)) {
  for (dataset in unique(proportions$dataset)) {
    d <- proportions[proportions$dataset == dataset, ]
    g <- rma.glmm(measure = "PLO", xi = d$xi, ni = d$ni)
    put(dataset, "rma_glmm", "estimate", g$b)
    put(dataset, "rma_glmm", "se", g$se)
    put(dataset, "rma_glmm", "tau2", g$tau2)
  }
}

write.csv(do.call(rbind, rows), output, row.names = FALSE)
