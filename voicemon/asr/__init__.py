"""voicemon.asr"""
