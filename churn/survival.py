"""Time to churn and customer lifetime value from a monthly hazard model (a discrete-time survival model).

Why discrete time: the snapshots are customer-months, each labelled "churned
within the month" and right-censored where the data ends, which is exactly a
discrete-time survival likelihood; the cross-section of tenures (0–72 months in
every snapshot) identifies how the hazard changes as a customer ages, which 24
months of follow-up alone could not do for a 60-month horizon.

The curve of one customer: the features that age deterministically are moved
forward month by month (tenure grows, a term contract counts down and renews,
total charges accumulate), the rest are held at their value at the snapshot,
and S(t) = Π_{k<t} (1 − h(x_k)) is the probability of still being a customer
after t months. Value counts the months after the current one (already billed),
for a customer who stays through it — what a retention offer that works saves,
the quantity EV = p × CLV × success − cost needs:

    CLV = margin × Σ_{t=1..H} S(t) / S(1) × charges / (1 + d)^t

(S(t) / S(1): survival from next month on, given the customer stays this one).
The horizons and the expected lifetime are unconditional: they include this
month's risk.
Contract lapses and service changes are not projected: a stated assumption.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from churn.errors import InputError
from churn.schema import CONTRACT_TERM_MONTHS

HORIZON_MONTHS = 60
DEFAULT_HORIZONS = (1, 3, 6, 12)


def check_horizons(horizons: Iterable[object], field: str = "horizons") -> tuple[int, ...]:
    """Whole months between 1 and the model's 60-month horizon, or an InputError naming the field and the value."""
    out: list[int] = []
    for value in horizons:
        if isinstance(value, bool) or not isinstance(value, int | np.integer | str):
            raise InputError(f"{field}: {value!r} is not a whole number of months")
        try:
            month = int(value)
        except ValueError:
            raise InputError(f"{field}: {value!r} is not a whole number of months") from None
        if not 1 <= month <= HORIZON_MONTHS:
            raise InputError(f"{field}: {month} is outside 1–{HORIZON_MONTHS} months")
        out.append(month)
    if not out:
        raise InputError(f"{field}: give at least one horizon between 1 and {HORIZON_MONTHS} months")
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class Ageing:
    """Where the features that age with time sit in the model matrix (None: the model does not use it)."""

    tenure: int | None
    remaining: int | None
    total: int | None
    charges: int | None
    contract: dict[int, int]  # one-hot column -> term in months

    @classmethod
    def for_columns(cls, columns: Sequence[str], terms: Mapping[str, int] = CONTRACT_TERM_MONTHS) -> Ageing:
        """``terms``: each contract kind's term in months (the platform's, and a source's own kinds)."""
        index = {c: i for i, c in enumerate(columns)}
        contract = {
            index[f"contract_type={name}"]: term for name, term in terms.items() if f"contract_type={name}" in index
        }
        return cls(index.get("tenure_months"), index.get("contract_remaining_months"),
                   index.get("total_charges_to_date"), index.get("monthly_charges"), contract)  # fmt: skip

    def terms(self, X: np.ndarray) -> np.ndarray:
        term = np.zeros(len(X))
        for col, months in self.contract.items():
            term = np.where(X[:, col] == 1.0, months, term)
        return term

    def project(self, X: np.ndarray, k: int | np.ndarray, term: np.ndarray) -> np.ndarray:
        """The matrix ``k`` months after the snapshot (``term``: each row's contract term, 0 for none); ``k`` may
        be one number per row."""
        if np.isscalar(k) and k == 0:
            return X
        out = X.copy()
        if self.tenure is not None:
            out[:, self.tenure] = X[:, self.tenure] + k
        if self.remaining is not None:
            r = X[:, self.remaining]
            cycled = np.mod(r - 1 - k, np.maximum(term, 1)) + 1  # counts down to 1, then a new term starts
            out[:, self.remaining] = np.where((term > 0) & ~np.isnan(r), cycled, r)
        if self.total is not None and self.charges is not None:
            out[:, self.total] = X[:, self.total] + k * np.nan_to_num(X[:, self.charges])
        return out

    def project_months(self, X: np.ndarray, horizon: int) -> np.ndarray:
        """Months 0..horizon-1 of every row, stacked month-major (row k·n + i is row i after k months)."""
        n = len(X)
        return self.project(np.tile(X, (horizon, 1)), np.repeat(np.arange(horizon), n), np.tile(self.terms(X), horizon))


def survival_curves(
    X: np.ndarray, hazard_of: Callable[[np.ndarray], np.ndarray], ageing: Ageing, horizon: int = HORIZON_MONTHS
) -> np.ndarray:
    """S[:, t-1] = P(still a customer after t months | the snapshot), t = 1..horizon (float32, rows × horizon).

    All the months of a row are scored in one call (rows × horizon stacked): for the API's one customer that
    is one model call instead of sixty, which is most of the cost.
    """
    stacked = ageing.project_months(X, horizon)
    h = np.clip(np.asarray(hazard_of(stacked), dtype=np.float64), 0.0, 1.0).reshape(horizon, len(X)).T
    return np.cumprod(1.0 - h, axis=1).astype(np.float32)


def discount_factors(horizon: int, monthly_discount: float) -> np.ndarray:
    return (1.0 + monthly_discount) ** -np.arange(1, horizon + 1, dtype=np.float64)


def expected_lifetime(S: np.ndarray) -> np.ndarray:
    """Expected months as a customer after the current one, within the horizon (the restricted mean)."""
    return np.asarray(S, dtype=np.float64).sum(axis=1)


def retained_annuity(S: np.ndarray, monthly_discount: float) -> np.ndarray:
    """Σ_t S(t) / S(1) / (1 + d)^t: discounted months still to come for a customer who stays through this one."""
    S = np.asarray(S, dtype=np.float64)
    return (S @ discount_factors(S.shape[1], monthly_discount)) / np.maximum(S[:, 0], 1e-12)


def lifetime_value(S: np.ndarray, charges: np.ndarray, margin: float, monthly_discount: float) -> np.ndarray:
    """margin × charges × :func:`retained_annuity`: the discounted margin a retention that works keeps."""
    return margin * np.nan_to_num(np.asarray(charges, dtype=np.float64)) * retained_annuity(S, monthly_discount)


def churn_within(S: np.ndarray, horizons: Sequence[int]) -> dict[int, np.ndarray]:
    """P(churn within h months) for each horizon h."""
    return {h: 1.0 - np.asarray(S[:, h - 1], dtype=np.float64) for h in horizons}


# --- Quality -------------------------------------------------------------------------------------------------------


def kaplan_meier(durations: np.ndarray, events: np.ndarray, horizon: int) -> np.ndarray:
    """Kaplan–Meier survival at t = 1..horizon months (lifelines' estimator; NaN past the last observed time)."""
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(np.asarray(durations, float), np.asarray(events, bool))
    times = np.arange(1, horizon + 1, dtype=float)
    values = km.survival_function_at_times(times).to_numpy(np.float64)
    values[times > float(np.max(durations))] = np.nan
    return values


def concordance(durations: np.ndarray, events: np.ndarray, expected_months: np.ndarray) -> float:
    """Harrell's C: the share of comparable pairs where the customer who churned first was expected to leave
    sooner (lifelines' implementation, which handles ties and censoring)."""
    from lifelines.utils import concordance_index

    return float(concordance_index(durations, expected_months, events))


def integrated_brier(S: np.ndarray, durations: np.ndarray, events: np.ndarray, horizon: int) -> float:
    """Mean over t = 1..horizon of the inverse-probability-of-censoring weighted Brier score of S(t) (Graf et al.
    1999): 0 is perfect; predicting 0.5 everywhere scores 0.25."""
    durations = np.asarray(durations, float)
    events = np.asarray(events, bool)
    censor = kaplan_meier(durations, ~events, int(durations.max()))
    G = np.concatenate([[1.0], np.nan_to_num(censor, nan=censor[~np.isnan(censor)][-1])])

    def g(t: np.ndarray) -> np.ndarray:  # censoring survival just before t (durations are whole months)
        return np.maximum(G[np.clip(t.astype(int) - 1, 0, len(G) - 1)], 1e-6)

    scores = []
    for t in range(1, horizon + 1):
        s = np.asarray(S[:, t - 1], float)
        churned = (durations <= t) & events
        still = durations > t
        term = np.where(churned, s**2 / g(durations), 0.0) + np.where(still, (1 - s) ** 2 / g(np.full_like(s, t)), 0.0)
        scores.append(float(term.mean()))
    return float(np.mean(scores))


def sbg_fit(alive: Sequence[float]) -> tuple[float, float]:
    """The shifted-beta-geometric model of Fader & Hardie (2007) fitted by maximum likelihood to a cohort's
    customers alive at months 0, 1, …, T (the first entry is the cohort size): (alpha, beta)."""
    from scipy.optimize import minimize
    from scipy.special import betaln

    n = np.asarray(alive, dtype=np.float64)
    if len(n) < 3 or n[0] <= 0:
        raise ValueError("sBG: needs a cohort and at least two months of follow-up")
    lost = -np.diff(n)
    T = len(n) - 1
    t = np.arange(1, T + 1)

    def nll(log_params: np.ndarray) -> float:
        a, b = np.exp(log_params)
        log_p = betaln(a + 1, b + t - 1) - betaln(a, b)  # P(T = t)
        log_s = betaln(a, b + T) - betaln(a, b)  # P(T > T)
        return -float((lost * log_p).sum() + n[-1] * log_s)

    fit = minimize(nll, x0=np.log([1.0, 5.0]), method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10})
    a, b = np.exp(fit.x)
    return float(a), float(b)


def sbg_survival(alpha: float, beta: float, horizon: int) -> np.ndarray:
    """S(t) = B(alpha, beta + t) / B(alpha, beta), t = 1..horizon."""
    from scipy.special import betaln

    t = np.arange(1, horizon + 1)
    return np.exp(betaln(alpha, beta + t) - betaln(alpha, beta))
