"""Seats: who is coming. Each invited agency of a meeting has a seat, answered by the
reply slip link (回條), a calendar client's reply, or the secretariat (docs/seats.md)."""
