"""A deployment's category labels: the platform's, plus the ones its source mapping declares.

A company's payment methods and contract kinds are its own: a mobile operator
has direct debit and prepaid cards, a broadband one an 18-month contract. A
mapping places a source's labels onto the platform's where they mean the same
thing, and declares the rest under ``labels`` (docs/byod.md). The ingest writes
them into the raw manifest; from there the snapshot builder (a contract's term),
the snapshot contract of ``churn validate``, the model's encoder (one one-hot
column per label), the API's what-if and the console read them. A source that
declares nothing has exactly the platform's labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from churn.schema import CATEGORY_VALUES, CONTRACT_TERM_MONTHS

# The features whose values are a raw category column's labels.
FEATURE_COLUMNS: dict[str, str] = {"contract_type": "contract", "payment_method": "payment_method", "gender": "gender"}
MAX_TERM_MONTHS = 120


@dataclass(frozen=True)
class Labels:
    values: dict[str, tuple[str, ...]]  # raw category column -> every label, the platform's first
    contract_terms: dict[str, int]  # contract label -> term in months (0: none)

    def __hash__(self) -> int:  # a cache key (the snapshot contract of these labels)
        return hash((tuple(sorted(self.values.items())), tuple(sorted(self.contract_terms.items()))))

    def of_feature(self, feature: str) -> tuple[str, ...] | None:
        """The labels a categorical feature takes, or None for a feature that is not a category column's."""
        column = FEATURE_COLUMNS.get(feature)
        return self.values[column] if column else None

    def declared(self) -> dict[str, Any]:
        """What a mapping added (the manifest's ``labels``), in the mapping's own form; {} for none."""
        out: dict[str, Any] = {}
        for column, labels in self.values.items():
            extra = [label for label in labels if label not in CATEGORY_VALUES[column]]
            if extra and column == "contract":
                out[column] = {label: self.contract_terms[label] for label in extra}
            elif extra:
                out[column] = extra
        return out


PLATFORM = Labels(dict(CATEGORY_VALUES), dict(CONTRACT_TERM_MONTHS))


def declare(declared: Mapping[str, Any] | None, where: str = "labels") -> Labels:
    """The platform's labels plus ``declared`` ({column: [labels]}, contracts as {label: term months}).

    Raises ValueError naming ``where.column`` for an unknown column, a label the platform already has, or a
    contract kind without a whole term of 0 to 120 months.
    """
    if not declared:
        return PLATFORM
    values = dict(PLATFORM.values)
    terms = dict(PLATFORM.contract_terms)
    for column, given in declared.items():
        if column not in CATEGORY_VALUES:
            raise ValueError(f"{where}.{column}: not a category column ({', '.join(CATEGORY_VALUES)})")
        if column == "arm":
            raise ValueError(f"{where}.arm: a campaign's arms are fixed ({', '.join(CATEGORY_VALUES['arm'])})")
        if column == "contract":
            if not isinstance(given, Mapping):
                raise ValueError(
                    f"{where}.contract: give each contract kind with its term in months, e.g. {{Eighteen months: 18}}"
                )
            for label, term in given.items():
                if isinstance(term, bool) or not isinstance(term, int) or not 0 <= term <= MAX_TERM_MONTHS:
                    raise ValueError(
                        f"{where}.contract.{label}: the term must be a whole number of months from 0 (no term) to "
                        f"{MAX_TERM_MONTHS}, got {term!r}"
                    )
            names = [str(label) for label in given]
            terms.update({str(label): int(term) for label, term in given.items()})
        else:
            if isinstance(given, str) or not isinstance(given, list | tuple):
                raise ValueError(f"{where}.{column}: a list of labels, e.g. [Direct debit]")
            names = [str(label) for label in given]
        for label in names:
            if not label.strip():
                raise ValueError(f"{where}.{column}: an empty label")
            if label in CATEGORY_VALUES[column]:
                raise ValueError(
                    f"{where}.{column}: {label!r} is already one of the platform's labels; place yours onto it under "
                    "categories instead"
                )
        if len(set(names)) != len(names):
            raise ValueError(f"{where}.{column}: a label is declared twice")
        values[column] = (*CATEGORY_VALUES[column], *names)
    return Labels(values, terms)


MANIFEST_KEY = "category_labels"  # in the raw and the offline manifests (whose "labels" counts the label rows)


def labels_of(manifest: Mapping[str, Any] | None) -> Labels:
    """The labels a raw (or offline) manifest records; the platform's when it records none."""
    return declare((manifest or {}).get(MANIFEST_KEY), f"manifest {MANIFEST_KEY}")
