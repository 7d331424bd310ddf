"""pam.pipelines"""
