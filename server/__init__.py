"""The asyncio WebSocket server: both protocols, sessions, the batched engine, HTTP health and metrics."""
