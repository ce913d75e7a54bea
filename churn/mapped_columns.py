"""Reading a mapping's files and turning the export's columns into typed raw columns.

Shared by the table ingest (churn/mapped_ingest.py) and the cross-section
ingest (churn/cross_section.py). A value that cannot be read is recorded as a
reject — (row, the export's column, the value, the reason) — never dropped
silently; a label the mapping does not place is, by the mapping's choice, an
error naming the labels and rows (a gap in the mapping) or a reject.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from churn.declared import FeaturesSpec, attribute_dtype
from churn.errors import InputError
from churn.labels import PLATFORM, Labels
from churn.lineage import file_sha256
from churn.mapping import DEFAULT_FALSE, DEFAULT_TRUE, MONTH_COLUMNS, ColumnSpec, FileSpec
from churn.schema import CUSTOMER_ID_PATTERN
from churn.timeutil import month_labels

REJECT_COLUMNS = ["table", "file", "line", "field", "value", "reason"]
DAYS_PER_MONTH = 365.25 / 12
_ID_RE = re.compile(CUSTOMER_ID_PATTERN)
_YM_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
ID_RULE = "empty or malformed id (1-64 letters, digits, _ . : -, starting with a letter or digit)"


@dataclass
class ReadFiles:
    """One kind of file as read: the export's columns, and the file and line each row came from."""

    frame: pd.DataFrame
    files: list[Path]
    origin_file: np.ndarray
    origin_line: np.ndarray

    def file_names(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The file name of each row (of ``rows``), without a Python loop over millions of rows."""
        names = np.array([p.name for p in self.files], dtype=object)
        return names[self.origin_file if rows is None else self.origin_file[rows]]

    def where(self, rows: np.ndarray) -> str:
        return ", ".join(f"{self.files[self.origin_file[r]].name}:{self.origin_line[r]}" for r in rows)

    def hashes(self, base: Path) -> dict[str, str]:
        return {str(p.relative_to(base)) if p.is_relative_to(base) else str(p): file_sha256(p) for p in self.files}


def used_columns(spec: FileSpec, features: FeaturesSpec | None = None) -> set[str]:
    """The export's columns a mapping reads from these files (with ``features``, its declared attributes too)."""
    used = {s.column for c in spec.columns if (s := spec.spec(c)) is not None and s.column is not None}
    return used | {d.attribute for d in (features.declared.values() if features else []) if d.attribute is not None}


def attribute_columns(features: FeaturesSpec | None, read: ReadFiles) -> dict[str, tuple[ColumnSpec, str]]:
    """The declared attributes as column specs of the file they come from, with the raw kind each is read as.

    A column the file lacks is one line naming the feature's key and the file's columns."""
    out: dict[str, tuple[ColumnSpec, str]] = {}
    for name, d in features.declared.items() if features is not None else []:
        if d.attribute is None:
            continue
        if d.attribute not in read.frame.columns:
            raise InputError(
                f"features.declared.{name}.attribute: column {d.attribute!r} not in "
                f"{', '.join(p.name for p in read.files)} (its columns: {', '.join(map(str, read.frame.columns))})"
            )
        assert d.type is not None
        spec = ColumnSpec(column=d.attribute, true_values=d.true_values, false_values=d.false_values)
        out[name] = (spec, attribute_dtype(d.type))  # a feature's dtype is also the raw kind it is read as
    return out


def _files(spec: FileSpec, base: Path, at: str) -> list[Path]:
    found: list[Path] = []
    for pattern in spec.files:
        full = pattern if Path(pattern).is_absolute() else str(base / pattern)
        matches = sorted(Path(p) for p in glob.glob(full))
        if not matches:
            raise InputError(f"{at}.files: no file matches {pattern} (looked in {base})")
        found.extend(m for m in matches if m not in found)
    return found


def _is_parquet(path: Path, spec: FileSpec) -> bool:
    return spec.format == "parquet" or (spec.format is None and path.suffix.lower() in (".parquet", ".pq"))


def read_files(spec: FileSpec, base: Path, at: str) -> ReadFiles:
    """Every file of ``spec`` in name order, concatenated; each must hold every column the mapping names."""
    files = _files(spec, base, at)
    frames, origin_file, origin_line = [], [], []
    wanted = used_columns(spec)
    for i, path in enumerate(files):
        parquet = _is_parquet(path, spec)
        try:
            if parquet:
                df = pd.read_parquet(path)
            else:
                df = pd.read_csv(
                    path, dtype=str, keep_default_na=False, na_filter=False, sep=spec.delimiter, encoding=spec.encoding
                )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as err:
            kind = "parquet" if parquet else "CSV"
            raise InputError(f"{at}.files: {path} is not a readable {kind} file ({err.__class__.__name__})") from None
        missing = sorted(wanted - set(map(str, df.columns)))
        if missing:
            raise InputError(
                f"{at}.columns: column(s) {', '.join(missing)} not in {path.name} "
                f"(its columns: {', '.join(map(str, df.columns))})"
            )
        frames.append(df)
        origin_file.append(np.full(len(df), i, dtype=np.int32))
        origin_line.append(np.arange(len(df), dtype=np.int64) + (1 if parquet else 2))  # CSV: line 1 is the header
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    return ReadFiles(frame, files, np.concatenate(origin_file), np.concatenate(origin_line))


def zone(name: str, at: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"{at}: unknown time zone {name!r} (an IANA name such as Europe/Paris or UTC)") from None


def as_text(series: pd.Series) -> pd.Series:
    """Trimmed text, "" for missing; Arrow-backed, so trimming and matching millions of values run in C."""
    return series.astype("string[pyarrow]").fillna("").str.strip()


def _timestamps(series: pd.Series, fmt: str | None, tz: ZoneInfo) -> tuple[pd.Series, str]:
    """UTC times and the rule they were read by (for reject reasons); unreadable values are NaT."""
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed, rule = pd.Series(series), "a date"
    elif fmt in ("epoch_s", "epoch_ms"):
        numbers = pd.to_numeric(as_text(series), errors="coerce")
        parsed = pd.to_datetime(numbers, unit="s" if fmt == "epoch_s" else "ms", utc=True, errors="coerce")
        rule = f"seconds since 1970 ({fmt})"
    else:
        text = as_text(series)
        text = text.where(text != "")
        if fmt in (None, "iso"):
            parsed, rule = pd.to_datetime(text, format="ISO8601", errors="coerce"), "an ISO 8601 date"
        else:
            parsed, rule = pd.to_datetime(text, format=fmt, errors="coerce"), f"a date in the format {fmt}"
    if getattr(parsed.dt, "tz", None) is None:
        parsed = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return parsed.dt.tz_convert("UTC"), rule


def _booleans(series: pd.Series, true_values: list[str] | None, false_values: list[str] | None) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype("boolean")
    text = as_text(series).str.lower()
    out = pd.Series(pd.NA, index=series.index, dtype="boolean")
    out[text.isin({v.lower() for v in (true_values or DEFAULT_TRUE)})] = True
    out[text.isin({v.lower() for v in (false_values or DEFAULT_FALSE)})] = False
    return out


class ColumnReader:
    """Turns one file kind's export columns into raw columns, collecting rejects and stated assumptions."""

    def __init__(
        self,
        table: str,
        spec: FileSpec,
        read: ReadFiles,
        tz: ZoneInfo,
        at: str,
        unplaced: str = "error",
        labels: Labels = PLATFORM,
    ) -> None:
        self.table, self.spec, self.read, self.tz, self.at, self.unplaced = table, spec, read, tz, at, unplaced
        self.labels = labels
        self.problems: list[tuple[np.ndarray, str, pd.Series, str]] = []
        self.assumptions: list[str] = []

    def reject(self, bad: pd.Series | np.ndarray, field: str, values: pd.Series, reason: str) -> None:
        rows = np.flatnonzero(np.asarray(bad, dtype=bool))
        if len(rows):
            self.problems.append((rows, field, values, reason))

    def column(self, raw: str, kind: str) -> pd.Series:
        """The raw column ``raw`` of kind ``kind`` (string, timestamp, int, float, bool, category).

        Values are turned into text only where text is what is parsed: a Parquet column of dates or numbers is
        taken as it is (formatting millions of dates to strings cost more than the whole build).
        """
        source, field = self.source(raw)
        spec = self.spec.spec(raw)
        assert spec is not None
        is_date = pd.api.types.is_datetime64_any_dtype(source)
        if raw in MONTH_COLUMNS and spec.format is None and not is_date:
            text = as_text(source)
            ok = text.str.match(_YM_RE).astype(bool)
            self.reject(~ok, field, source, "not a month (YYYY-MM; give `format` for another layout)")
            return text.where(ok)
        if kind == "timestamp" or raw in MONTH_COLUMNS:
            tz = zone(spec.timezone, f"{self.at}.columns.{raw}.timezone") if spec.timezone else self.tz
            times, rule = _timestamps(source, spec.format, tz)
            self.reject(times.isna(), field, source, f"blank or not {rule}")
            return month_labels(times) if raw in MONTH_COLUMNS else times
        if kind == "bool" and isinstance(spec.value, bool):
            return pd.Series(spec.value, index=self.read.frame.index, dtype="boolean")
        if kind == "bool":
            values = _booleans(source, spec.true_values, spec.false_values)
            yes, no = ", ".join(spec.true_values or DEFAULT_TRUE), ", ".join(spec.false_values or DEFAULT_FALSE)
            self.reject(values.isna(), field, source, f"not a yes/no value (true: {yes}; false: {no})")
            return values
        if kind in ("float", "int"):
            return self._number(kind, spec.unit, field, source)
        text = as_text(source)
        if kind == "category":
            return self._category(raw, field, source, text)
        if raw == "customer_id":
            self.reject(~text.str.match(_ID_RE).astype(bool), field, source, ID_RULE)
        else:
            self.reject(text == "", field, source, "blank")
        return text

    def _number(self, kind: str, unit: str, field: str, source: pd.Series) -> pd.Series:
        if pd.api.types.is_numeric_dtype(source) and not pd.api.types.is_bool_dtype(source):
            numbers = source.astype(float)
            blank = numbers.isna()
        else:
            text = as_text(source)
            blank = text == ""
            numbers = pd.to_numeric(text.where(~blank), errors="coerce").astype(float)
            self.reject(numbers.isna() & ~blank, field, source, "not a number")
        self.reject(blank, field, source, "blank")
        self.reject(numbers.notna() & ~np.isfinite(numbers.fillna(0)), field, source, "not a finite number")
        if unit == "cents":
            numbers = numbers / 100.0
        elif unit == "days":
            numbers = np.floor(numbers / DAYS_PER_MONTH)
        elif kind == "int":
            self.reject(numbers.notna() & (numbers != np.floor(numbers)), field, source, "not a whole number")
        return numbers

    def bounds(self, values: pd.Series, raw: str, low: float, high: float) -> None:
        """Reject values outside [low, high] (the platform's plausibility bounds for ``raw``)."""
        source, field = self.source(raw)
        out = values.notna() & ((values < low) | (values > high))
        self.reject(out, field, source, f"outside [{low:g}, {high:g}]")

    def source(self, raw: str) -> tuple[pd.Series, str]:
        """The export's values for ``raw`` (or the mapping's constant, stated once) and the field rejects name."""
        spec = self.spec.spec(raw)
        assert spec is not None, raw
        if spec.column is not None:
            return self.read.frame[spec.column], spec.column
        statement = f"{self.table}.{raw} = {spec.value!r} for every row: {spec.assumption}"
        if statement not in self.assumptions:
            self.assumptions.append(statement)
        return pd.Series([spec.value] * len(self.read.frame), dtype=object), raw

    def duplicates(self, ids: pd.Series, raw: str = "customer_id") -> None:
        """Both rows of a repeated id are ambiguous: each is rejected."""
        counts = ids.map(ids.value_counts())
        _, field = self.source(raw)
        dup = (counts > 1) & ids.str.match(_ID_RE)
        for n in sorted(set(counts[dup])):
            self.reject(dup & (counts == n), field, ids, f"duplicate id (appears {n} times)")

    def _category(self, raw: str, field: str, source: pd.Series, shown: pd.Series) -> pd.Series:
        allowed = self.labels.values[raw]
        labels = self.spec.categories.get(raw, {})
        wrong = sorted({v for v in labels.values() if v not in allowed})
        if wrong:
            raise InputError(
                f"{self.at}.categories.{raw}: {', '.join(map(repr, wrong))} is not one of the {raw} labels "
                f"({', '.join(allowed)}); declare a label of your own under labels.{raw}"
            )
        placed = shown.map(labels).fillna(shown) if labels else shown  # a dict lookup per row, in C
        unplaced = ~placed.isin(allowed)
        if unplaced.any() and self.unplaced == "reject":
            self.reject(unplaced, field, source, f"not one of {', '.join(allowed)}")
        elif unplaced.any():
            counts = shown[unplaced].value_counts()
            listed = ", ".join(f"{v!r} ({n} rows)" for v, n in counts.head(5).items())
            raise InputError(
                f"{self.at}.categories.{raw}: value(s) the mapping does not place: {listed}"
                f"{' and more' if len(counts) > 5 else ''}; first at {self.read.where(np.flatnonzero(unplaced)[:3])}"
                f" — map each to one of {', '.join(allowed)}"
            )
        return placed

    def bad_rows(self) -> np.ndarray:
        bad = np.zeros(len(self.read.frame), dtype=bool)
        for rows, *_ in self.problems:
            bad[rows] = True
        return bad

    def rejects(self, with_row: bool = False) -> pd.DataFrame:
        """One line per (row, field) problem; ``with_row`` appends the row's own columns (a cross-section's)."""
        parts = []
        for rows, field, values, reason in self.problems:
            part = pd.DataFrame(
                {
                    "table": self.table,
                    "file": self.read.file_names(rows),
                    "line": self.read.origin_line[rows],
                    "field": field,
                    "value": as_text(values.iloc[rows]).to_numpy(),
                    "reason": reason,
                }
            )
            if with_row:
                own = self.read.frame.iloc[rows].reset_index(drop=True).astype(str)
                part = pd.concat([part, own.drop(columns=[c for c in own.columns if c in part.columns])], axis=1)
            parts.append(part)
        columns = REJECT_COLUMNS + (list(map(str, self.read.frame.columns)) if with_row else [])
        if not parts:
            return pd.DataFrame(columns=columns)
        return pd.concat(parts, ignore_index=True).sort_values(["line", "field"], kind="stable", ignore_index=True)
