"""Spreadsheets for people: returns and exports, written with openpyxl."""
