"""pam.objects"""
