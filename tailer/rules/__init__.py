"""The rules stage: rule files → rules (load.py), conditions (expr.py), decisions over events (engine.py)."""
