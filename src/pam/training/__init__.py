"""pam.training"""
