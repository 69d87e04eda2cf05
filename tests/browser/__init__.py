"""The callback inbox in a real browser (Debian's Chromium via Playwright)."""
