"""pam.render"""
