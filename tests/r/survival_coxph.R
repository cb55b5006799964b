# Cox model on (start, stop] counting-process data with R survival's coxph (Breslow ties), for
# tests/test_counting_cox.py: reads start,stop,event and covariates x1..xk from a CSV and writes
# the coefficients and their standard errors.
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
terms <- grep("^x", names(d), value = TRUE)
f <- as.formula(paste("Surv(start, stop, event) ~", paste(terms, collapse = " + ")))
fit <- coxph(f, data = d, ties = "breslow")
out <- data.frame(term = terms, coef = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))))
write.csv(out, args[2], row.names = FALSE)
