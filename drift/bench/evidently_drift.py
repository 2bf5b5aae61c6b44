#!/usr/bin/env python3
"""What a user runs instead of `ferry drift`: Evidently's drift tests on every feature of a sample
against the raw reference (which Ferry does not need: it reads the bundle's profile).

    python3 drift/bench/evidently_drift.py REFERENCE.csv SAMPLE.csv

The same statistics `ferry drift` decides with by default: PSI (numeric features) and Jensen–Shannon
(categorical: the features whose contract lists `allowed` values), plus KS on the numeric ones and
chi-squared on the categorical ones. BENCHMARKS.md times it against `ferry drift` with farm-bench.
"""

import sys

import pandas as pd
from evidently.legacy.calculations.stattests import chi_stat_test, jensenshannon_stat_test, ks_stat_test, psi_stat_test
from evidently.legacy.core import ColumnType

CATEGORICAL = {"loan_term_months", "home_ownership", "has_mortgage"}


def main() -> int:
    reference = pd.read_csv(sys.argv[1])
    sample = pd.read_csv(sys.argv[2])
    drifted = []
    for name in reference.columns:
        r, c = reference[name].dropna(), sample[name].dropna()
        if name in CATEGORICAL:
            js = jensenshannon_stat_test(r, c, ColumnType.Categorical, 0.1)
            chi_stat_test(r, c, ColumnType.Categorical, 0.05)
            if js.drifted:
                drifted.append(name)
        else:
            psi = psi_stat_test(r, c, ColumnType.Numerical, 0.25)
            ks_stat_test(r, c, ColumnType.Numerical, 0.05)
            if psi.drifted:
                drifted.append(name)
    print("drifted:", ", ".join(drifted) or "none")
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
