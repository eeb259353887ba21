"""The benchmark's report: one row a measure, its value against its target, printed as one table
(`.ci/run` looks for each row by the start of its label)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Row:
    label: str
    value: float
    unit: str
    target: str
    met: bool
    detail: str = ""


@dataclass
class Report:
    title: str = ""
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self, label: str, value: float, unit: str, target: float, *, at_most: bool = True, detail: str = ""
    ) -> None:
        met = value <= target if at_most else value >= target
        shown = f"{'<=' if at_most else '>='} {target:g}{unit if unit == '%' else ''}"
        self.rows.append(Row(label, value, unit, shown, met, detail))

    def table(self) -> str:
        width = max(len(row.label) for row in self.rows)
        lines = [self.title, ""] if self.title else []
        lines += [f"{'measure':<{width}}  {'value':>9}  {'target':>9}  {'':4}  detail"]
        for row in self.rows:
            value = f"{row.value:.1f}%" if row.unit == "%" else f"{row.value:.2f}{row.unit}"
            lines.append(
                f"{row.label:<{width}}  {value:>9}  {row.target:>9}  {'ok' if row.met else 'MISS':4}  {row.detail}"
            )
        return "\n".join(lines + self.notes)
