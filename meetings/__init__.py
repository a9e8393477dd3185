"""What a meeting is: pure domain logic and the tables that hold it."""
