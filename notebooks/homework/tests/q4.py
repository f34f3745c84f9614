OK_FORMAT = True

test = {'name': 'q4',
 'points': 2,
 'suites': [{'cases': [{'code': ">>> import hw1\n>>> q4 == hw1.Homework(SEED).answer('q4')\nTrue",
                        'hidden': False,
                        'locked': False}],
             'scored': True,
             'setup': '',
             'teardown': '',
             'type': 'doctest'}]}
