"""LLM layer: AsyncOpenAI wrapper, tool-calling loop, scripted OpenAI-compatible server."""
