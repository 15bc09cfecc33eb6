"""Trains, evaluates and profiles the seed's DeepFashion CNN and its variants (Keras 3)."""
