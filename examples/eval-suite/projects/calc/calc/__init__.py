"""calc: tiny arithmetic."""
