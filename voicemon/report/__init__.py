"""voicemon.report"""
