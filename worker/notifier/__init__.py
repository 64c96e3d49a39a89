"""Push notifier interface and its implementations."""
