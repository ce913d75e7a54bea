"""How each retention action moves a treated customer's churn hazard in the simulator: the truth campaigns,
uplift models and policies are measured against.

An action adds a shift to the customer's churn logit in the month it is assigned
and the two after it (``EFFECT_MONTHS``, the campaign readout's window), on top
of :func:`churn.hazard.hazard_logit`; several treatments add up. The shift reads
the customer's state that month (the snapshot features) and two latent traits
the platform never sees: a price sensitivity (the one the offer responses have
always drawn) and one idiosyncratic draw per customer and action. Negative
shifts lower churn; positive ones raise it — offers can backfire.

Defaults (``EffectCoefficients``, fixed before any policy was compared; sources
in docs/simulator.md):

* ``discount``: −0.43 − 0.30 · price sensitivity − 0.10 per $10 of monthly
  charges above $55 (about the mean bill; clipped to ±$30): it helps
  price-sensitive customers with high bills, and some customers not at all.
* ``loyalty_call``: −0.12 − 0.20 per support ticket in 3 months (up to 3): a
  call helps customers with a recent problem to talk about.
* ``contract_upgrade``: −0.36 for month-to-month customers (the offer does not
  apply to a customer already on a term: 0).
* Every action is a contact: a month-to-month customer with at least 48 months
  of tenure, no ticket in 3 months and no late payment in 6 ("sleeping dog",
  about 13% of the customers) gets +0.49 on top — reminded that they can leave
  (Ascarza, Iyengar and Schleicher 2016: 10.0% of contacted customers left
  within three months against 6.4% of the control group, a logit difference of
  0.49).
* Each action's shift also carries 0.15 × its own latent draw.

Where the catalogue's success rate is s, a shift of ln(1 − s) lowers a small
hazard by the share s: the base shifts are those of the catalogue's rates
(0.35 → −0.43, 0.30 → −0.36, 0.15 → about −0.16 for calls over the ticket
counts). Measured on the default simulation, for customers who are not sleeping
dogs, the hazard drops on average by 14% (call), 29% (discount; the spread of
the shifts lowers the mean) and 29% (upgrade, month-to-month): the fixed-rate
catalogue is about right on average and wrong customer by customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from churn.hazard import feature_column, feature_is

ACTIONS = ("loyalty_call", "discount", "contract_upgrade")
EFFECT_MONTHS = 3  # the assignment month and the two after it: the campaign readout's window


@dataclass(frozen=True)
class EffectCoefficients:
    discount: float = -0.43
    discount_price_sensitivity: float = -0.30
    discount_charges: float = -0.10  # per $10 of monthly charges above $55, clipped to ±$30
    loyalty_call: float = -0.12
    loyalty_call_tickets: float = -0.20  # per support ticket in 3 months, up to 3
    contract_upgrade: float = -0.36  # month-to-month customers only
    sleeping_dog: float = 0.49  # any contact of a quiet, long-tenure month-to-month customer
    sleeping_dog_tenure: int = 48
    latent: float = 0.15  # the scale of each action's idiosyncratic part


def action_code(names: np.ndarray) -> np.ndarray:
    """Column of each action in :func:`logit_shifts`, -1 for a name the simulator has no effect for."""
    lookup = {name: k for k, name in enumerate(ACTIONS)}
    return np.array([lookup.get(str(n), -1) for n in names], dtype=np.int64)


def sleeping_dog(features: Mapping[str, object], coef: EffectCoefficients) -> np.ndarray:
    """Quiet, long-tenure month-to-month customers: no ticket in 3 months, no late payment in 6; contacting them
    raises their churn."""
    tickets = np.nan_to_num(feature_column(features, "num_support_tickets_3m"))
    late = np.nan_to_num(feature_column(features, "num_late_payments_6m"))
    return (
        feature_is(features, "contract_type", "Month-to-month")
        & (feature_column(features, "tenure_months") >= coef.sleeping_dog_tenure)
        & (tickets == 0)
        & (late == 0)
    )


def logit_shifts(
    features: Mapping[str, object],
    price_sensitivity: np.ndarray,
    latent: np.ndarray,
    coef: EffectCoefficients | None = None,
) -> np.ndarray:
    """The churn-logit shift of each action (columns in ``ACTIONS`` order) for customers in the state
    ``features`` describes; ``latent`` holds one standard normal draw per customer and action."""
    c = coef or EffectCoefficients()
    charges = np.clip(np.nan_to_num(feature_column(features, "monthly_charges") - 55.0) / 10.0, -3.0, 3.0)
    tickets = np.minimum(np.nan_to_num(feature_column(features, "num_support_tickets_3m")), 3.0)
    mtm = feature_is(features, "contract_type", "Month-to-month")
    contact = c.sleeping_dog * sleeping_dog(features, c)
    shifts = np.empty((len(charges), len(ACTIONS)))
    shifts[:, 0] = c.loyalty_call + c.loyalty_call_tickets * tickets
    shifts[:, 1] = c.discount + c.discount_price_sensitivity * price_sensitivity + c.discount_charges * charges
    shifts[:, 2] = np.where(mtm, c.contract_upgrade, 0.0)
    shifts += c.latent * latent
    shifts[:, 2] = np.where(mtm, shifts[:, 2], 0.0)  # no offer to take up: no effect, not even noise
    return shifts + contact[:, None]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, written as :func:`churn.hazard.hazard` writes it (the same bits for the same logit)."""
    return np.asarray(1.0 / (1.0 + np.exp(-x)))
