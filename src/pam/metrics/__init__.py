"""pam.metrics"""
