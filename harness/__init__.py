"""harness: benchmark and leaderboard harness for subtle-signal vision research."""
__version__ = "0.1.0"
