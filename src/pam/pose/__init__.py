"""pam.pose"""
