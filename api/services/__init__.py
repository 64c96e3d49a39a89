"""Services: the operations both the API and the worker use, over the models."""
