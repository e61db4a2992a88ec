"""The attribute registry, point rules, the scoring engine, score history and rescore jobs."""
