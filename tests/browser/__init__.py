"""Real-browser end-to-end tests: headless Chromium's EventSource against uvicorn."""
