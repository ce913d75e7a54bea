"""Behaviour-driven simulator of monthly customer histories in the raw schema.

Why a simulator: the true churn hazard of every customer-month is known, so the
best possible score (the oracle) is known; drift can be injected on purpose; and
retention offers can have known effects.

The model, month by month (``m`` is a month index):

* At the start of ``m`` every active customer has a state that mirrors the
  snapshot features exactly (tenure, contract, services, invoices, tickets and
  late payments known by then). The churn hazard is :func:`churn.hazard.hazard`
  of that state; churners leave on a uniform day of ``m``.
* Everyone active at the start of ``m`` is billed for ``m`` in advance (the
  signup month is free, so a customer with tenure t has t invoices, as in the
  IBM file). Survivors may pay late (known 10 days after the due date, i.e. in
  the next month), open support tickets (10% are entered 10–40 days late) and
  change services, contract or payment method.
* New customers join during ``m``, as many as left, so the population is stable.
* Latent traits drive behaviour: satisfaction drives tickets, creditworthiness
  drives late payments. The hazard sees behaviour, never the latent traits.

Stationarity: the simulation starts ``burn_in_months`` before ``start`` with a
cohort whose tenures follow a geometric law; their earlier history is generated
too (without churn, since they are known survivors). Only months from ``start``
get snapshots and oracle hazards.

Reproducibility: each month draws from its own stream
``SeedSequence([seed, month - first month])``, so the same seed gives
byte-identical files and a shorter run is an exact prefix of a longer one (with
an explicit ``drift_start``; the default drift start depends on ``months``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from churn.errors import InputError
from churn.hazard import HazardCoefficients, hazard_logit
from churn.lineage import fingerprint, lineage
from churn.raw import APPLIED_FILE, TREATED_HAZARD_FILE, UPLIFT_FILE, RawData
from churn.schema import ADDON_SERVICES, CONTRACT_TERM_MONTHS, CONTRACTS, GENDERS, INTERNET_SERVICES, PAYMENT_METHODS
from churn.timeutil import month_label, month_starts_ns, parse_month
from churn.treatment_effects import ACTIONS, EFFECT_MONTHS, action_code, logit_shifts, sigmoid

SCENARIOS = ("stable", "price_shock", "service_outage", "concept_drift")
DAY_NS = 86_400 * 10**9
MAX_INITIAL_TENURE = 72
OUTAGE_MONTHS = 3

# Default drift strengths at strength 1.0 (see docs/simulator.md).
PRICE_SHOCK = 0.15  # relative price rise for every customer
OUTAGE_TICKETS = 1.5  # extra tickets per fiber customer per month during the outage (most of them call in)

# Plan prices (monthly, before the contract discount and the customer's own price factor).
PHONE_PRICE, EXTRA_LINE_PRICE = 20.0, 5.0
INTERNET_PRICE = np.array([25.0, 45.0, 0.0])
ADDON_PRICE = np.array([5.0, 5.0, 5.0, 5.0, 10.0, 10.0])
CONTRACT_DISCOUNT = np.array([1.0, 0.95, 0.90])
HAZARD_BLOCK = 65_536  # rows per block of the monthly hazard
TERM = np.array([CONTRACT_TERM_MONTHS[c] for c in CONTRACTS])
PRICE_SENSITIVITY_STREAM = (1 << 30) + 1  # the latent traits' own streams, apart from the months'
ACTION_LATENT_STREAM = (1 << 30) + 2
TREATMENT_COLUMNS = ("customer_id", "action", "month")


@dataclass(frozen=True)
class SimulationConfig:
    customers: int = 20_000
    months: int = 24
    start: str = "2023-01"
    seed: int = 42
    scenario: str = "stable"
    drift_start: str | None = None
    drift_strength: float = 1.0
    burn_in_months: int = 72

    def validate(self) -> None:
        if self.customers < 1:
            raise InputError(f"customers: must be at least 1, got {self.customers}")
        if self.months < 1:
            raise InputError(f"months: must be at least 1, got {self.months}")
        if self.scenario not in SCENARIOS:
            raise InputError(f"scenario: must be one of {', '.join(SCENARIOS)}, got {self.scenario!r}")
        if self.drift_strength < 0:
            raise InputError(f"drift_strength: must be >= 0, got {self.drift_strength}")
        if self.burn_in_months < 0:
            raise InputError(f"burn_in_months: must be >= 0, got {self.burn_in_months}")
        parse_month(self.start, field="start")
        if self.drift_start is not None:
            parse_month(self.drift_start, field="drift_start")

    @property
    def start_index(self) -> int:
        return parse_month(self.start, field="start")

    @property
    def drift_index(self) -> int:
        if self.drift_start is not None:
            return parse_month(self.drift_start, field="drift_start")
        return self.start_index + round(2 * self.months / 3)


class _State:
    """Per-customer arrays, indexed by customer number (signup order), grown by doubling."""

    FIELDS: ClassVar[dict[str, tuple[str, Any]]] = {
        "signup_month": ("int64", 0),
        "signup_ns": ("int64", 0),
        "churn_month": ("int64", 1 << 40),
        "gender": ("int8", 0),
        "senior": ("bool", False),
        "partner": ("bool", False),
        "dependents": ("bool", False),
        "contract": ("int8", 0),
        "contract_start_month": ("int64", 0),
        "phone": ("bool", False),
        "multi": ("bool", False),
        "internet": ("int8", 2),
        "payment": ("int8", 0),
        "paperless": ("bool", False),
        "price_factor": ("float64", 1.0),
        "satisfaction": ("float64", 0.0),
        "credit": ("float64", 0.0),
        "total": ("float64", 0.0),
    }

    def __init__(self, capacity: int) -> None:
        self.n = 0
        self.capacity = capacity
        self.arrays: dict[str, np.ndarray] = {
            name: np.full(capacity, fill, dtype=dtype) for name, (dtype, fill) in self.FIELDS.items()
        }
        self.addons = np.zeros((capacity, len(ADDON_SERVICES)), dtype=bool)
        self.bills = np.full((capacity, 6), np.nan)  # invoice of period p in slot p % 6
        self.late = np.zeros((capacity, 6), dtype=bool)  # late flag of period p in slot p % 6
        self.tickets = np.zeros((capacity, 4, 3), dtype=np.int32)  # [opened month % 4, known month - opened]

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["arrays"][name]
        except KeyError:
            raise AttributeError(name) from None

    def subset(self, rows: np.ndarray) -> _State:
        """A new state holding copies of ``rows`` (repeated rows become independent customers)."""
        out = _State(capacity=max(len(rows), 1))
        for name in self.FIELDS:
            out.arrays[name] = self.arrays[name][rows].copy()
        out.addons, out.bills, out.late, out.tickets = (a[rows].copy() for a in (self.addons, self.bills, self.late,
                                                                                 self.tickets))  # fmt: skip
        out.n = out.capacity = len(rows)
        return out

    def reserve(self, extra: int) -> None:
        if self.n + extra <= self.capacity:
            return
        new_cap = max(self.capacity * 2, self.n + extra)
        for name, (dtype, fill) in self.FIELDS.items():
            grown = np.full(new_cap, fill, dtype=dtype)
            grown[: self.capacity] = self.arrays[name]
            self.arrays[name] = grown

        def grow(arr: np.ndarray, fill: Any) -> np.ndarray:
            out = np.full((new_cap, *arr.shape[1:]), fill, dtype=arr.dtype)
            out[: self.capacity] = arr
            return out

        self.addons = grow(self.addons, False)
        self.bills = grow(self.bills, np.nan)
        self.late = grow(self.late, False)
        self.tickets = grow(self.tickets, 0)
        self.capacity = new_cap


class _Records:
    """Column chunks of one raw table, concatenated once at the end."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[np.ndarray]] = {}

    def add(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            self.chunks.setdefault(name, []).append(np.asarray(values))

    def frame(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(parts) for name, parts in self.chunks.items()}


def _month_rng(seed: int, key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, key]))


def _ascending(idx: np.ndarray) -> np.ndarray | slice:
    """``idx`` (ascending, unique: the active customers) as a slice when it is one run of rows, else unchanged.

    A forked run for the truth holds only active customers, so its every month reads whole arrays: a slice reads
    them in place where fancy indexing would copy ~700,000 rows of each state array once per use."""
    if len(idx) and int(idx[-1]) - int(idx[0]) == len(idx) - 1:
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _price(state: _State, rows: np.ndarray) -> np.ndarray:
    idx = _ascending(rows)
    base = (
        PHONE_PRICE * state.phone[idx]
        + EXTRA_LINE_PRICE * (state.multi[idx] & state.phone[idx])
        + INTERNET_PRICE[state.internet[idx]]
        + (state.addons[idx] * ADDON_PRICE).sum(axis=1) * (state.internet[idx] != 2)
    )
    return base * CONTRACT_DISCOUNT[state.contract[idx]] * state.price_factor[idx]


def _new_customers(state: _State, rng: np.random.Generator, n: int, signup_month: np.ndarray) -> np.ndarray:
    """Draw attributes for ``n`` customers signing up in ``signup_month``; returns their indices."""
    state.reserve(n)
    idx = np.arange(state.n, state.n + n)
    state.n += n
    signup_ns = month_starts_ns(signup_month) + rng.integers(DAY_NS, 27 * DAY_NS, size=n)
    state.signup_month[idx] = signup_month
    state.signup_ns[idx] = signup_ns
    state.gender[idx] = rng.integers(0, 2, size=n)
    state.senior[idx] = rng.random(n) < 0.16
    state.partner[idx] = rng.random(n) < 0.48
    state.dependents[idx] = rng.random(n) < 0.30
    state.contract[idx] = rng.choice(3, size=n, p=[0.62, 0.20, 0.18])
    state.contract_start_month[idx] = signup_month
    state.phone[idx] = rng.random(n) < 0.90
    state.multi[idx] = state.phone[idx] & (rng.random(n) < 0.45)
    state.internet[idx] = rng.choice(3, size=n, p=[0.35, 0.44, 0.21])
    state.addons[idx] = (rng.random((n, len(ADDON_SERVICES))) < 0.38) & (state.internet[idx] != 2)[:, None]
    no_service = ~state.phone[idx] & (state.internet[idx] == 2)
    state.phone[idx[no_service]] = True  # everyone holds at least one service
    state.payment[idx] = rng.choice(4, size=n, p=[0.34, 0.22, 0.22, 0.22])
    state.paperless[idx] = rng.random(n) < 0.60
    state.price_factor[idx] = np.exp(rng.normal(0.0, 0.05, size=n))
    state.satisfaction[idx] = rng.normal(size=n)
    state.credit[idx] = rng.normal(size=n)
    return idx


def _snapshot_features(state: _State, rows: np.ndarray, m: int) -> dict[str, np.ndarray]:
    """The features the snapshot at the start of month ``m`` will hold, from the simulator's state: those the
    hazard reads (the builder derives the snapshots themselves from the raw tables)."""
    idx = _ascending(rows)
    bills = state.bills[idx]
    # Column by column over the six invoice slots, in period order: the same sums, term for term and in the same
    # order, as the row-wise ones over a (rows × 6) window, without building that window and its masks.
    n = len(rows)
    n3, s3 = np.zeros(n, dtype=np.int64), np.zeros(n)
    n6, sx, sxx, sy, sxy = np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    for p in range(m - 6, m):
        v = bills[:, p % 6]
        ok = ~np.isnan(v)
        y = np.where(ok, v, 0.0)
        x = float(p - m)
        n6 += ok
        sx += ok * x
        sxx += ok * (x * x)
        sy += y
        sxy += x * y
        if p >= m - 3:
            n3 += ok
            s3 += y
    with np.errstate(invalid="ignore", divide="ignore"):
        avg3 = np.where(n3 > 0, s3 / np.maximum(n3, 1), np.nan)
        denom = n6 * sxx - sx * sx
        trend = np.where((n6 >= 2) & (denom > 0), (n6 * sxy - sx * sy) / denom, np.nan)
    monthly = bills[:, (m - 1) % 6]
    tenure = m - state.signup_month[idx] - 1
    tk = state.tickets[idx]
    tickets = np.zeros(len(rows), dtype=np.int64)
    for j in range(m - 3, m):
        for k in range(3):
            if j + k <= m - 1:
                tickets += tk[:, j % 4, k]
    late = np.zeros(len(rows), dtype=np.int64)
    for p in range(m - 6, m - 1):
        late += state.late[idx, p % 6]
    contract = state.contract[idx]
    term = TERM[contract]
    since = m - state.contract_start_month[idx] - 1
    remaining = np.where(term > 0, term - np.mod(since, np.maximum(term, 1)), 0)
    return {
        "tenure_months": tenure,
        "contract_type": pd.Categorical.from_codes(contract, CONTRACTS),  # codes: see churn.hazard.feature_is
        "contract_remaining_months": remaining,
        "has_fiber_optic": state.internet[idx] == 1,
        "payment_method": pd.Categorical.from_codes(state.payment[idx], PAYMENT_METHODS),
        "senior_citizen": state.senior[idx],
        "partner": state.partner[idx],
        "dependents": state.dependents[idx],
        "monthly_charges": monthly,
        "avg_monthly_charges_3m": avg3,
        "charges_trend_6m": trend,
        "num_support_tickets_3m": tickets,
        "num_late_payments_6m": late,
    }


class _Run:
    """One simulation in progress: the customers' state, the records written so far, and one step per month."""

    def __init__(self, config: SimulationConfig, treatments: pd.DataFrame | None = None) -> None:
        self.config = config
        self.start = config.start_index
        self.end = self.start + config.months  # the first month not observed
        self.loop_start = self.start - config.burn_in_months
        self.prelude = self.loop_start - MAX_INITIAL_TENURE - 1
        self.drift = config.drift_index
        self.base_coef = HazardCoefficients()
        self.drifted_coef = self.base_coef.drifted(config.drift_strength)
        self.state = _State(capacity=int(config.customers * 1.5) + 16)
        self.changes, self.bills, self.pays, self.tickets, self.churns, self.oracle = (_Records() for _ in range(6))
        self.uplift, self.treated = _Records(), _Records()
        self.treatments = _assignments(treatments, self.start, self.end)
        self.applied: pd.DataFrame | None = (
            None if treatments is None else treatments[list(TREATMENT_COLUMNS)].astype(str)
        )
        self.price_sensitivity, self.action_latent = np.zeros(0), np.zeros((0, len(ACTIONS)))
        self.ticket_seq = 0
        self.survivors_only = False  # a forked run for the truth: nobody churns, the hazards are kept instead
        self.last_hazard = np.zeros(0)
        init_rng = _month_rng(config.seed, 1 << 30)
        tenure0 = np.minimum(init_rng.geometric(0.03, size=config.customers) - 1, MAX_INITIAL_TENURE)
        _new_customers(self.state, init_rng, config.customers, np.sort(self.loop_start - 1 - tenure0))
        # Initial cohort: state records at signup, written like every other change.
        _record_state(self.changes, self.state, np.arange(self.state.n), self.state.signup_ns[: self.state.n])

    def month(self, step: int, m: int) -> None:
        """Month ``m``: churn at its start, invoices, late payments, tickets, changes, joiners — in that order."""
        rng = _month_rng(self.config.seed, step)
        state = self.state
        m_start = int(month_starts_ns(np.array([m]))[0])
        active = np.flatnonzero((state.signup_month[: state.n] < m) & (state.churn_month[: state.n] >= m))
        leavers, stayers = self._churn(rng, active, m, m_start)
        if self.config.scenario == "price_shock" and m == self.drift:
            state.price_factor[: state.n] *= 1.0 + PRICE_SHOCK * self.config.drift_strength
        self._invoices(rng, active, m)
        self._late_payments(rng, active, stayers, m)
        self._support_tickets(rng, active, stayers, m, m_start)
        self._service_changes(rng, stayers, m, m_start)
        # joiners balance leavers from the burn-in on (not in a forked run for the truth)
        if m >= self.loop_start and len(leavers) and not self.survivors_only:
            new = _new_customers(state, rng, len(leavers), np.full(len(leavers), m))
            _record_state(self.changes, state, new, state.signup_ns[new])

    def _churn(self, rng: np.random.Generator, active: np.ndarray, m: int, m_start: int) -> tuple[np.ndarray, ...]:
        """Churn at the start of m, from the snapshot's features and the treatments under way; returns (leavers,
        stayers). The oracle keeps the untreated hazard (what a score estimates), the uplift oracle what each
        action would change in it."""
        if m >= self.loop_start and len(active):
            drifted = self.config.scenario == "concept_drift" and m >= self.drift
            coef = self.drifted_coef if drifted else self.base_coef
            observed = m >= self.start and not self.survivors_only
            # by blocks of rows: the dozens of temporaries of each block stay in the cache (a forked run for the
            # truth holds ~700,000 rows); every row's hazard is the same function of its own features alone
            logit = np.concatenate([self._block_logit(active[i : i + HAZARD_BLOCK], m, coef, observed)
                                    for i in range(0, len(active), HAZARD_BLOCK)])  # fmt: skip
            h = sigmoid(logit)
            treated_h = self._treated_hazard(active, logit, h, m)
            churned = rng.random(len(active)) < treated_h
            if self.survivors_only:
                self.last_hazard, churned = h, np.zeros(len(active), dtype=bool)
            if m >= self.start:
                self.oracle.add(customer=active, month=np.full(len(active), m), hazard=h)
        else:
            churned = np.zeros(len(active), dtype=bool)
        leavers, stayers = active[churned], active[~churned]
        self.state.churn_month[leavers] = m
        churn_ns = m_start + rng.integers(DAY_NS // 24, 27 * DAY_NS, size=len(leavers))
        self.churns.add(customer=leavers, churned_ns=churn_ns)
        return leavers, stayers

    def _block_logit(self, rows: np.ndarray, m: int, coef: HazardCoefficients, observed: bool) -> np.ndarray:
        """The untreated churn logit of ``rows``; in an observed month also each action's uplift (the drop in this
        month's hazard the action alone would bring; negative where it backfires)."""
        features = _snapshot_features(self.state, rows, m)
        logit = hazard_logit(features, coef)
        if observed:
            shifts = logit_shifts(features, *self._latent(rows))
            uplift = sigmoid(logit)[:, None] - sigmoid(logit[:, None] + shifts)
            self.uplift.add(customer=rows, month=np.full(len(rows), m),
                            **{action: uplift[:, k] for k, action in enumerate(ACTIONS)})  # fmt: skip
        return logit

    def _treated_hazard(self, active: np.ndarray, logit: np.ndarray, h: np.ndarray, m: int) -> np.ndarray:
        """``h`` (the hazard of ``logit``) with the shifts of the treatments assigned in the last ``EFFECT_MONTHS``
        months applied to the customers still active; ``h`` itself when none is under way (the open-loop
        simulation, bit for bit)."""
        if self.survivors_only or not self.treatments:
            return h
        windows = [self.treatments[a] for a in range(m - EFFECT_MONTHS + 1, m + 1) if a in self.treatments]
        if not windows:
            return h
        customers = np.concatenate([c for c, _ in windows])
        codes = np.concatenate([k for _, k in windows])
        pos = np.minimum(np.searchsorted(active, customers), len(active) - 1)
        present = active[pos] == customers  # a customer who has left is not treated any more
        pos, codes = pos[present], codes[present]
        if not len(pos):
            return h
        rows, which = np.unique(pos, return_inverse=True)
        features = _snapshot_features(self.state, active[rows], m)
        shifts = logit_shifts(features, *self._latent(active[rows]))
        total = np.zeros(len(rows))
        np.add.at(total, which, shifts[which, codes])
        out = h.copy()
        out[rows] = sigmoid(logit[rows] + total)
        if m >= self.start:
            self.treated.add(customer=active[rows], month=np.full(len(rows), m), hazard=h[rows],
                             treated_hazard=out[rows])  # fmt: skip
        return out

    def _latent(self, customers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each customer's price sensitivity and per-action latent draws, from streams of their own: a
        customer's draws depend on their number alone (the draws of a longer array start with a shorter one's)."""
        need = int(customers.max(initial=-1)) + 1
        if need > len(self.price_sensitivity):
            size = max(need, self.state.capacity)
            self.price_sensitivity = _month_rng(self.config.seed, PRICE_SENSITIVITY_STREAM).normal(size=size)
            latent = _month_rng(self.config.seed, ACTION_LATENT_STREAM).normal(size=(size, len(ACTIONS)))
            self.action_latent = latent
        return self.price_sensitivity[customers], self.action_latent[customers]

    def _invoices(self, rng: np.random.Generator, active: np.ndarray, m: int) -> None:
        """Invoices for m, billed in advance at the start of the month, posted a day later."""
        amount = np.round(_price(self.state, active) * (1.0 + rng.normal(0.0, 0.02, size=len(active))), 2)
        self.bills.add(customer=active, period=np.full(len(active), m), amount=amount)
        self.state.bills[active, m % 6] = amount
        self.state.total[active] += amount

    def _late_payments(self, rng: np.random.Generator, active: np.ndarray, stayers: np.ndarray, m: int) -> None:
        """Late payments of survivors (due on day 25, known 10 days later: next month)."""
        state = self.state
        p_late = 1.0 / (1.0 + np.exp(-(-3.3 + 0.9 * state.credit[stayers] + 0.5 * (state.payment[stayers] == 0))))
        late = rng.random(len(stayers)) < p_late
        self.pays.add(customer=stayers, period=np.full(len(stayers), m), late=late)
        state.late[active, m % 6] = False
        state.late[stayers, m % 6] = late

    def _support_tickets(
        self, rng: np.random.Generator, active: np.ndarray, stayers: np.ndarray, m: int, m_start: int
    ) -> None:
        """Support tickets of survivors; 10% are entered 10-40 days late."""
        state = self.state
        rate = 0.07 * np.exp(0.5 * state.satisfaction[stayers]) * np.where(state.internet[stayers] == 1, 1.5, 1.0)
        if self.config.scenario == "service_outage" and self.drift <= m < self.drift + OUTAGE_MONTHS:
            rate = rate + np.where(state.internet[stayers] == 1, OUTAGE_TICKETS * self.config.drift_strength, 0.0)
        owners = np.repeat(stayers, rng.poisson(rate))
        opened = m_start + rng.integers(0, 28 * DAY_NS, size=len(owners))
        lag = np.where(
            rng.random(len(owners)) < 0.9,
            rng.integers(0, 2 * DAY_NS, size=len(owners)),
            rng.integers(10 * DAY_NS, 40 * DAY_NS, size=len(owners)),
        )
        known = opened + lag
        known_month = known.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
        state.tickets[active, m % 4, :] = 0
        np.add.at(state.tickets, (owners, np.full(len(owners), m % 4), known_month - m), 1)
        seq = np.arange(self.ticket_seq, self.ticket_seq + len(owners))
        self.tickets.add(customer=owners, ticket=seq, opened_ns=opened, known_ns=known)
        self.ticket_seq += len(owners)

    def _service_changes(self, rng: np.random.Generator, stayers: np.ndarray, m: int, m_start: int) -> None:
        """Service, contract and payment changes of survivors (effective by day 24, known within 3 days)."""
        state = self.state
        u = rng.random(len(stayers))
        pick_addon = rng.integers(0, len(ADDON_SERVICES), size=len(stayers))
        pick_payment = rng.integers(0, 4, size=len(stayers))
        contract = state.contract[stayers]
        term = TERM[contract]
        term_ending = (term > 0) & (
            np.mod(m - state.contract_start_month[stayers] - 1, np.maximum(term, 1)) == term - 1
        )
        upgrade = (u < 0.008) & (contract == 0)
        lapse = (u < 0.25) & term_ending  # at the end of a term some customers go month-to-month
        toggle = (u >= 0.008) & (u < 0.020) & (state.internet[stayers] != 2) & ~lapse
        pay_change = (u >= 0.020) & (u < 0.026) & (pick_payment != state.payment[stayers]) & ~lapse
        changed = upgrade | lapse | toggle | pay_change
        who = stayers[changed]
        effective = m_start + rng.integers(DAY_NS, 24 * DAY_NS, size=len(who))
        known_lag = rng.integers(0, 3 * DAY_NS, size=len(who))
        up, lp, tg, pc = upgrade[changed], lapse[changed], toggle[changed], pay_change[changed]
        state.contract[who[up]] = 1
        state.contract[who[lp]] = 0
        state.contract_start_month[who[up | lp]] = m
        state.addons[who[tg], pick_addon[changed][tg]] ^= True
        state.payment[who[pc]] = pick_payment[changed][pc]
        contract_start_ns = np.where(up | lp, effective, 0)
        _record_state(self.changes, state, who, effective, effective + known_lag, contract_start_ns)


def simulate(
    config: SimulationConfig,
    progress: Callable[[int, int], None] | None = None,
    treatments: pd.DataFrame | None = None,
) -> RawData:
    """Run the simulation; ``progress(done, total)`` is called once per simulated month. ``treatments``
    (customer_id, action, month as YYYY-MM) act on the hazard from their month on (:mod:`churn.treatment_effects`);
    none gives the open-loop simulation."""
    config.validate()
    run = _Run(config, treatments)
    total_months = run.end - run.prelude
    for step, m in enumerate(range(run.prelude, run.end)):
        run.month(step, m)
        if progress is not None:
            progress(step + 1, total_months)
    return _assemble(run)


def _assignments(treatments: pd.DataFrame | None, start: int, end: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Treatments by month index: (customer numbers in ascending order, action codes)."""
    if treatments is None or not len(treatments):
        return {}
    missing = [c for c in TREATMENT_COLUMNS if c not in treatments]
    if missing:
        raise InputError(f"treatments: missing column(s) {', '.join(missing)}")
    ids = treatments["customer_id"].astype(str)
    bad = ~ids.str.fullmatch(r"C\d{7}")
    if bad.any():
        raise InputError(f"treatments: customer_id {ids[bad].iloc[0]!r} is not a simulated customer")
    codes = action_code(treatments["action"].to_numpy())
    if (codes < 0).any():
        unknown = treatments["action"].to_numpy()[codes < 0][0]
        raise InputError(f"treatments: action {unknown!r} has no simulated effect (known: {', '.join(ACTIONS)})")
    months = np.array([parse_month(str(v), field="treatments.month") for v in treatments["month"]], dtype=np.int64)
    outside = (months < start) | (months >= end)
    if outside.any():
        raise InputError(f"treatments: month {treatments['month'].to_numpy()[outside][0]} is outside the simulated "
                         f"months {month_label(start)}..{month_label(end - 1)}")  # fmt: skip
    numbers = ids.str[1:].astype(np.int64).to_numpy()
    out = {}
    for month in np.unique(months):
        at = months == month
        order = np.lexsort((codes[at], numbers[at]))
        out[int(month)] = (numbers[at][order], codes[at][order])
    return out


def treatments_digest(treatments: pd.DataFrame | None) -> str | None:
    """A stable digest of the treatments a world was run with (None for none): part of its lineage, so a
    stepped world never shares a cache entry with another."""
    if treatments is None or not len(treatments):
        return None
    rows = sorted(zip(*(treatments[c].astype(str) for c in TREATMENT_COLUMNS), strict=True))
    return fingerprint("treatments", rows=rows)


def _record_state(
    changes: _Records,
    state: _State,
    idx: np.ndarray,
    effective_ns: np.ndarray,
    known_ns: np.ndarray | None = None,
    contract_start_ns: np.ndarray | None = None,
) -> None:
    """Append the full service state of ``idx`` as of ``effective_ns``."""
    known = effective_ns if known_ns is None else known_ns
    changes.add(
        customer=idx,
        effective_ns=effective_ns,
        known_ns=known,
        contract=state.contract[idx].copy(),
        contract_start_ns=(np.zeros(len(idx), dtype=np.int64) if contract_start_ns is None else contract_start_ns),
        phone=state.phone[idx].copy(),
        multi=(state.multi[idx] & state.phone[idx]),
        internet=state.internet[idx].copy(),
        addons=(state.addons[idx] & (state.internet[idx] != 2)[:, None]),
        payment=state.payment[idx].copy(),
        paperless=state.paperless[idx].copy(),
    )


def _ts(ns: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(ns, dtype=np.int64), utc=True))


def _ids(codes: np.ndarray, id_strings: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int32), categories=id_strings)


def _months(index: np.ndarray) -> pd.Categorical:
    lo, hi = int(index.min()) if len(index) else 0, int(index.max()) if len(index) else 0
    labels = [month_label(i) for i in range(lo, hi + 1)]
    return pd.Categorical.from_codes(np.asarray(index - lo, dtype=np.int32), categories=labels)


def _customers_frame(state: _State, ids: np.ndarray) -> pd.DataFrame:
    n = state.n
    return pd.DataFrame(
        {
            "customer_id": _ids(np.arange(n), ids),
            "signup_at": _ts(state.signup_ns[:n]),
            "known_at": _ts(state.signup_ns[:n]),
            "gender": pd.Categorical.from_codes(state.gender[:n], categories=list(GENDERS)),
            "senior_citizen": state.senior[:n],
            "partner": state.partner[:n],
            "dependents": state.dependents[:n],
        }
    )


def _contract_starts(ch: dict[str, np.ndarray], signup_ns: np.ndarray) -> np.ndarray:
    """Each change's contract start: a change that does not touch the contract keeps the contract's own start."""
    cs = ch["contract_start_ns"].copy()
    order = np.lexsort((ch["effective_ns"], ch["customer"]))
    cs_sorted = cs[order]
    cust_sorted = ch["customer"][order]
    first = np.r_[True, cust_sorted[1:] != cust_sorted[:-1]]
    cs_sorted[first & (cs_sorted == 0)] = signup_ns[cust_sorted[first & (cs_sorted == 0)]]
    # forward-fill the last non-zero contract start within each customer
    pos = np.where(cs_sorted != 0, np.arange(len(cs_sorted)), 0)
    np.maximum.accumulate(pos, out=pos)
    cs[order] = cs_sorted[pos]
    return cs


def _service_changes_frame(changes: _Records, state: _State, ids: np.ndarray) -> pd.DataFrame:
    ch = changes.frame()
    return pd.DataFrame(
        {
            "customer_id": _ids(ch["customer"], ids),
            "effective_at": _ts(ch["effective_ns"]),
            "known_at": _ts(ch["known_ns"]),
            "contract": pd.Categorical.from_codes(ch["contract"], categories=list(CONTRACTS)),
            "contract_start": _ts(_contract_starts(ch, state.signup_ns)),
            "phone_service": ch["phone"],
            "multiple_lines": ch["multi"],
            "internet_service": pd.Categorical.from_codes(ch["internet"], categories=list(INTERNET_SERVICES)),
            **{name: ch["addons"][:, i] for i, name in enumerate(ADDON_SERVICES)},
            "payment_method": pd.Categorical.from_codes(ch["payment"], categories=list(PAYMENT_METHODS)),
            "paperless_billing": ch["paperless"],
        }
    ).sort_values(["customer_id", "effective_at"], kind="stable", ignore_index=True)


def _billing_frame(bills: _Records, ids: np.ndarray) -> pd.DataFrame:
    b = bills.frame()
    period_start = month_starts_ns(b["period"])
    return pd.DataFrame(
        {
            "customer_id": _ids(b["customer"], ids),
            "period_month": _months(b["period"]),
            "billed_at": _ts(period_start),
            "known_at": _ts(period_start + DAY_NS),
            "amount": b["amount"],
        }
    )


def _payments_frame(pays: _Records, ids: np.ndarray) -> pd.DataFrame:
    p = pays.frame()
    due = month_starts_ns(p["period"]) + 24 * DAY_NS
    return pd.DataFrame(
        {
            "customer_id": _ids(p["customer"], ids),
            "period_month": _months(p["period"]),
            "due_at": _ts(due),
            "known_at": _ts(due + 10 * DAY_NS),
            "paid_late": p["late"],
        }
    )


def _tickets_frame(tickets: _Records, ids: np.ndarray) -> pd.DataFrame:
    t = tickets.frame()
    return pd.DataFrame(
        {
            "customer_id": _ids(t["customer"], ids),
            "ticket_id": pd.Series([f"T{i:09d}" for i in t["ticket"]], dtype=object),
            "opened_at": _ts(t["opened_ns"]),
            "known_at": _ts(t["known_ns"]),
        }
    )


def _churn_frame(churns: _Records, ids: np.ndarray) -> pd.DataFrame:
    c = churns.frame()
    return pd.DataFrame(
        {"customer_id": _ids(c["customer"], ids), "churned_at": _ts(c["churned_ns"]), "known_at": _ts(c["churned_ns"])}
    ).sort_values("customer_id", kind="stable", ignore_index=True)


def _assemble(run: _Run) -> RawData:
    """The raw tables, the oracle, the offer responses and the manifest of a finished run."""
    config, state = run.config, run.state
    ids = np.array([f"C{i:07d}" for i in range(state.n)], dtype=object)
    o = run.oracle.frame()
    oracle = pd.DataFrame(
        {"customer_id": _ids(o["customer"], ids), "snapshot_month": _months(o["month"]), "hazard": o["hazard"]}
    )
    digest = treatments_digest(run.applied)
    manifest = {
        "source": "simulator",
        "lineage": lineage("simulator", **asdict(config), **({"treatments": digest} if digest else {})),
        "first_snapshot_month": month_label(run.start),
        "last_snapshot_month": month_label(run.end),
        "behaviour_tables": ["payments", "tickets"],
        "simulation": {**asdict(config), "drift_start": month_label(config.drift_index)},
        "hazard": asdict(HazardCoefficients()),
        **(
            {"treatments": {"rows": 0 if run.applied is None else len(run.applied), "digest": digest}} if digest else {}
        ),
    }
    return RawData(
        tables={
            "customers": _customers_frame(state, ids),
            "service_changes": _service_changes_frame(run.changes, state, ids),
            "billing": _billing_frame(run.bills, ids),
            "payments": _payments_frame(run.pays, ids),
            "tickets": _tickets_frame(run.tickets, ids),
            "churn_events": _churn_frame(run.churns, ids),
        },
        manifest=manifest,
        oracle=oracle,
        offers=_offer_response(config, state, ids),
        effects=_effects(run, ids),
    )


def _effects(run: _Run, ids: np.ndarray) -> dict[str, pd.DataFrame]:
    """The uplift oracle of every observed customer-month and, after a closed-loop step, the treatments the world
    applied and the hazards they made (untreated and treated, month by month)."""
    u = run.uplift.frame()
    out = {
        UPLIFT_FILE: pd.DataFrame(
            {
                "customer_id": _ids(u["customer"], ids),
                "snapshot_month": _months(u["month"]),
                **{f"uplift_{a}": u[a] for a in ACTIONS},
            }
        )
    }
    if run.applied is not None and len(run.applied):
        out[APPLIED_FILE] = run.applied.sort_values(["month", "customer_id", "action"], ignore_index=True)
        t = run.treated.frame() or {"customer": np.zeros(0, np.int64), "month": np.zeros(0, np.int64),
                                    "hazard": np.zeros(0), "treated_hazard": np.zeros(0)}  # fmt: skip
        out[TREATED_HAZARD_FILE] = pd.DataFrame(
            {
                "customer_id": _ids(t["customer"], ids),
                "snapshot_month": _months(t["month"]),
                "hazard": t["hazard"],
                "treated_hazard": t["treated_hazard"],
            }
        )
    return out


def _offer_response(config: SimulationConfig, state: _State, ids: np.ndarray) -> pd.DataFrame:
    """Who each retention offer would save, drawn once per customer from its own stream.

    A would-be churner offered action a stays iff ``u_save < p_save_a``: a common
    random number, so comparing policies on the same customers is fair. Calls work
    better on satisfied customers, discounts on price-sensitive ones, contract
    upgrades only on month-to-month customers (see docs/simulator.md).
    """
    n = state.n
    rng = _month_rng(config.seed, PRICE_SENSITIVITY_STREAM)
    price_sensitivity = rng.normal(size=n)
    u = rng.random(n)
    satisfaction = state.satisfaction[:n]
    return pd.DataFrame(
        {
            "customer_id": _ids(np.arange(n), ids),
            "p_save_loyalty_call": 0.15 * (1.0 + 0.5 * np.tanh(satisfaction)),
            "p_save_discount": 0.35 * (1.0 + 0.5 * np.tanh(price_sensitivity)),
            "p_save_contract_upgrade": np.where(state.contract[:n] == 0, 0.30, 0.0),
            "u_save": u,
        }
    )
