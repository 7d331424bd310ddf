"""pam.data"""
