"""What agents see: git-aware file view, overlay of unsaved buffers, secret exclusion, tools, repo map."""
