"""`python -m worker`: run the notification worker."""

from worker.main import main

main()
