"""pam.models"""
