# Aalen-Johansen cumulative incidence with R survival's multi-state survfit, for
# tests/test_competing.py: reads entry,time,cause (0 censored, 1 and 2 events) from a CSV and
# writes time and the probability of state 1 at every time of the fit.
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$id <- seq_len(nrow(d))
d$state <- factor(d$cause, levels = 0:2, labels = c("censor", "one", "two"))
fit <- survfit(Surv(entry, time, state) ~ 1, data = d, id = id)
out <- data.frame(time = fit$time, cif = fit$pstate[, which(fit$states == "one")])
write.csv(out, args[2], row.names = FALSE)
