"""voicemon.web"""
