"""LLM layer: AsyncOpenAI wrapper, tool-calling loop, scripted OpenAI-compatible server.

Import from the submodules (`.client`, `.loop`, `.conversation`, `.scripted`); this package
stays import-light so `baton --help` and the language server start fast.
"""
