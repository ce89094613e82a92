"""voicemon.escalation"""
