# Cox model on (start, stop] counting-process data with R survival's coxph, for
# tests/test_counting_cox.py and tests/test_efron.py: reads start,stop,event and covariates
# x1..xk from a CSV and writes the coefficients and their standard errors; ties as the third
# argument (breslow unless given).
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
terms <- grep("^x", names(d), value = TRUE)
f <- as.formula(paste("Surv(start, stop, event) ~", paste(terms, collapse = " + ")))
ties <- if (length(args) >= 3) args[3] else "breslow"
fit <- coxph(f, data = d, ties = ties)
out <- data.frame(term = terms, coef = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))))
write.csv(out, args[2], row.names = FALSE)
