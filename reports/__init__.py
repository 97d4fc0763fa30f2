"""Policy tuning and the report builder.

Sweeps policies over scenarios with the SimPy model and writes the report a product
owner opens: the recommended policy with its intervals, findings, plots and the
capacity figures planners need. Generated output goes to ``reports/out/``.
"""
