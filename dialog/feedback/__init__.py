"""Feedback: the turn log (what each turn showed and how it was received), ratings, and learning from them."""
