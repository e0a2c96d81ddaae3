"""Self-contained HTML reports of trained runs (``wsvad report``)."""

from wsvad.report.page import render, write_report

__all__ = ["render", "write_report"]
