"""Triage → fix → validate: the deterministic parts (input parsers, reproduction, bisect,
validation rules, fingerprints, branch commits). The pattern that strings them together with
the agents is `baton.pipelines.patterns.triage_fix_validate`."""
