"""Reports and the grading dashboard (issue 7): ledgers in HJ 1321 layouts, statistics, exports, charts.

See docs/reports.md for every definition (which passes count, which days, which rounding).
"""
