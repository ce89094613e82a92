"""voicemon.prosody"""
