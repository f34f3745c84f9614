OK_FORMAT = True

test = {   'name': 'hw3_q4',
    'points': [0],
    'suites': [{'cases': [{'code': '>>> hw3.check_letters(q4a, q4b, q4c)\nok\n', 'hidden': False, 'locked': False}], 'scored': True, 'setup': '', 'teardown': '', 'type': 'doctest'}]}
