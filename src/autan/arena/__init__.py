"""Blind comparison of two models ("arène"): two anonymous answers, a vote, a leaderboard."""
