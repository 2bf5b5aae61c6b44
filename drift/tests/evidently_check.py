#!/usr/bin/env python3
"""Checks Ferry's drift statistics against Evidently and SciPy on the same data and the same bins.

    python3 drift/tests/evidently_check.py PROFILE.json REPORT.json REFERENCE.csv SAMPLE.csv

PROFILE.json is a bundle's reference/profile.json, REPORT.json what `ferry drift --format json` printed
for SAMPLE.csv; REFERENCE.csv is the sample the profile was computed from. tests/e2e/drift.rs runs this
for every sample of fixtures/credit-drift when Evidently is installed (CI installs it).

Per feature:

- PSI and Jensen–Shannon: Evidently's `psi_stat_test` and `jensenshannon_stat_test` on the reference and
  the sample, each value replaced by its bucket in the profile (a numeric column's bin by the profile's
  edges, `np.searchsorted(edges, x, side="left")`, i.e. `(a, b]`; a categorical column's value itself),
  passed to Evidently as categorical: the same binning. Must agree to 1e-6.
- chi-squared (categorical): Evidently's `chi_stat_test` p-value. Must agree to 1e-6.
- KS (numeric): the statistic against SciPy's exact `ks_2samp` (what Evidently's `ks_stat_test` runs).
  For a column whose reference has at most `bins` distinct values Ferry's statistic is exact: 1e-9. For
  the others Ferry reads the reference from its t-digest (KS mid-ranks of ties): the difference is
  bounded by KS_SKETCH_BOUND, and printed. The p-value is checked against SciPy's limiting Kolmogorov
  distribution for Ferry's statistic (`kstwobign.sf(sqrt(n·m/(n+m))·D)`) to 1e-9; Evidently's p-value
  (the exact distribution for these sizes) is printed beside it.

Prints one line per column and exits 1 on any disagreement.
"""

from __future__ import annotations

import json
import math
import sys
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from evidently.legacy.calculations.stattests import (
    chi_stat_test,
    jensenshannon_stat_test,
    ks_stat_test,
    psi_stat_test,
)
from evidently.legacy.core import ColumnType

TOL = 1e-6
KS_EXACT_TOL = 1e-9
# The largest KS statistic difference from the t-digest (k = 200) and mid-rank ties that this check
# accepts; the measured differences on the fixture are printed and stay far below it.
KS_SKETCH_BOUND = 0.02


def buckets(values: np.ndarray, column: dict) -> pd.Series:
    if column.get("bins") is not None:
        edges = np.asarray(column["bins"]["edges"], dtype=np.float64)
        return pd.Series(np.searchsorted(edges, values, side="left"))
    return pd.Series(values)


def main() -> int:
    profile_path, report_path, reference_path, sample_path = sys.argv[1:5]
    profile = json.load(open(profile_path))
    report = json.load(open(report_path))
    reference = pd.read_csv(reference_path)
    sample = pd.read_csv(sample_path)
    ours = {c["name"]: c for c in report["features"]}
    failures = 0
    warnings.simplefilter("ignore")  # SciPy warns on the division by a zero expected count
    for column in profile["features"]:
        name = column["name"]
        got = ours[name]
        ref = reference[name].dropna().to_numpy(dtype=np.float64)
        cur = sample[name].dropna().to_numpy(dtype=np.float64)
        rb, cb = buckets(ref, column), buckets(cur, column)
        checks = []
        e_psi = float(psi_stat_test(rb, cb, ColumnType.Categorical, 0.1).drift_score)
        e_js = float(jensenshannon_stat_test(rb, cb, ColumnType.Categorical, 0.1).drift_score)
        checks.append(("psi", got["psi"], e_psi, TOL))
        checks.append(("js", got["js"], e_js, TOL))
        notes = ""
        if column["kind"] == "categorical":
            e_chi = float(chi_stat_test(pd.Series(ref), pd.Series(cur), ColumnType.Categorical, 0.05).drift_score)
            checks.append(("chi2 p", got["chi2"]["p_value"], e_chi, TOL))
        else:
            exact = stats.ks_2samp(ref, cur)
            d = got["ks"]["statistic"]
            bound = KS_EXACT_TOL if column["bins"].get("distinct") else KS_SKETCH_BOUND
            checks.append(("ks D", d, float(exact.statistic), bound))
            en = len(ref) * len(cur) / (len(ref) + len(cur))
            checks.append(("ks p (limiting)", got["ks"]["p_value"], float(stats.kstwobign.sf(math.sqrt(en) * d)), KS_EXACT_TOL))
            e_ks = float(ks_stat_test(pd.Series(ref), pd.Series(cur), ColumnType.Numerical, 0.05).drift_score)
            notes = f"  [Evidently ks p {e_ks:.4g}, D diff {abs(d - exact.statistic):.2e}]"
        line = []
        for what, mine, theirs, tol in checks:
            ok = abs(mine - theirs) <= tol * max(1.0, abs(theirs)) if math.isfinite(theirs) else mine == theirs
            failures += not ok
            line.append(f"{what} {mine:.6g}{'' if ok else ' != ' + format(theirs, '.6g')}")
        print(f"{'ok ' if all(abs(m - t) <= tol * max(1.0, abs(t)) for _, m, t, tol in checks) else 'BAD'} {name}: " + ", ".join(line) + notes)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
