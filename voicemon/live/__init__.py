"""voicemon.live"""
