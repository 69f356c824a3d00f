"""Agents: role prompt + tool set + output model + model config, as a bounded tool loop."""
