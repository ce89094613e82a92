"""voicemon.audio"""
