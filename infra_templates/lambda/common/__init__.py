"""Code shared by the Lambda functions; packaged into each function's zip (see ../README.md)."""
